"""Small word lists per language so the fake LLM writes text a language identifier recognises.

Random sequences of common words: meaningless, but in the right script and with the right letter
statistics. Other languages with their own script get pseudo-words in it (see `ALPHABETS`); the
languages written in Latin script without a list fall back to the fake LLM's Latin pseudo-words,
which the detector is never confident about.
"""

from __future__ import annotations

import random
import unicodedata

from synth.checks.scripts import LANGUAGE_SCRIPTS, SCRIPT_RANGES
from synth.checks.text import CHARS_PER_WORD

WORDS: dict[str, list[str]] = {
    "en": """the of and to in is that for it as was with be by on not he this are or his from at which but
have an they you were her she there been one all we their has would when if so no what out up
who more about into than them can only other new some could time these two may then do first any my
now such like our over man me even most made after also did many before must through back years where
much your way well down should because each just those people how too little state good very make
world still own see men work long get here between both life being under never day same another know
while last might us great old year off come since against go came right used take three place house
themselves few during without again around however home small found thought went say part once general
high upon school every don does got united left number course war until always away something fact
water though less public put think almost hand enough far took head yet government system better set
told nothing night end why called didn eyes find going look asked later knew point next program city
business give group toward young days let room president side social given present several order national
possible rather second face per among form important often things looked early white case john become
large big need four within felt along children saw best church ever least power development light""".split(),
    "de": """der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an
werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über einen so zum war haben
nur oder aber vor zur bis mehr durch man sein wurde sei prozent hatte kann gegen vom können schon wenn
habe seine mark ihre dann unter wir soll ich eines jahr zwei jahren diese dieser wieder keine uhr seiner
worden und will zwischen immer millionen ersten seit neue neuen drei wollen weil ganz jetzt heute
regierung unsere gibt etwa deutschen land stadt menschen viele andere beim ohne sehr alle ende deutschland
dabei kinder frauen leben müssen schule arbeit zeit weg geld welt frage recht nichts haus bundesregierung
politik zukunft unternehmen wirtschaft sollen wasser bereits weiter dort damit sagte letzten gut hier
darauf später denn einmal während erst stellen teil gleich lange geben kommt gemacht gerade wieder
allerdings zusammen deshalb trotzdem außerdem nämlich vielleicht wirklich natürlich besonders""".split(),
    "fr": """de la le et les des en un du une que est pour qui dans a par plus pas au sur ne se il sont
ce avec elle ou son mais comme on tout nous sa aux ont cette été fait leur peut ses y été entre même
deux très sans bien aussi ces dont leurs alors tous encore depuis avant lui après sous fait peu autre
ans elles notre cela donc moins temps chez ainsi faire contre faut quand nos où monde pays ville
gouvernement vie travail enfants femmes homme histoire France politique économie année jour toujours
selon pendant beaucoup rien chaque quelques jamais trop souvent maintenant pourquoi nouvelle grand
petite heures droit eau maison école""".split(),
    "es": """de la que el en y a los se del las un por con no una su para es al lo como más pero sus le ya
o este sí porque esta entre cuando muy sin sobre también me hasta hay donde quien desde todo nos durante
todos uno les ni contra otros ese eso ante ellos e esto mí antes algunos qué unos yo otro otras otra él
tanto esa estos mucho quienes nada muchos cual poco ella estar estas algunas algo nosotros mi mis tú te
ti tu tus ellas nosotras vosotros gobierno país ciudad años vida trabajo niños mujeres historia política
economía agua casa escuela siempre tiempo mundo nuevo grande""".split(),
    "ru": """и в не на я быть он с что а по это она этот к но они мы как из у который то за свой что весь
год от так о для ты же все тот мочь вы человек такой его сказать только или ещё бы себя один как уже до
время если сам когда другой вот говорить наш мой знать стать при чтобы дело жизнь кто первый очень два
день её новый рука даже во со раз где там под можно ну какой после их работа без самый потом надо хотеть
ли слово идти большой должен место иметь ничто город страна вода дом школа дети история""".split(),
    "ko": """그리고 하지만 그래서 사람 시간 오늘 내일 학교 회사 정부 나라 도시 문제 방법 결과 생각 이야기 사회
경제 문화 역사 과학 기술 정보 연구 교육 건강 환경 가족 친구 아이 부모 선생님 학생 의사 병원 음식 물
집 길 차 돈 일 사랑 마음 세계 한국 서울 정치 법 회의 시장 가격 제품 서비스 고객 기업 산업 발전 변화
중요한 새로운 다양한 많은 작은 큰 좋은 어려운 쉬운 빠른 느린 있다 없다 하다 되다 보다 알다 가다 오다
주다 받다 만들다 사용하다 필요하다 가능하다 위해 대한 통해 따라 경우 때문에 이후 이전 현재 미래 과거
지역 세대 기관 자료 분석 설명 질문 답변 내용 주제 목적 의미 영향 관계 과정 상황 조건 기준 목표""".split(),
    "zh": """我们 他们 中国 北京 上海 今天 明天 时间 问题 方法 结果 政府 国家 城市 社会 经济 文化 历史 科学
技术 信息 研究 教育 健康 环境 家庭 朋友 孩子 父母 老师 学生 医生 医院 食物 水 房子 路 车 钱 工作 爱
心 世界 发展 变化 重要 新的 不同 很多 小 大 好 困难 容易 快 慢 有 没有 做 是 看 知道 去 来 给 用 需要
可以 因为 所以 但是 而且 如果 虽然 已经 正在 非常 特别 一直 现在 未来 过去 地区 企业 市场 价格 产品
服务 客户 公司 行业 关系 过程 情况 条件 标准 目标 影响 意义 内容 主题 目的 分析 说明""".split(),
    "ja": """私たち 彼ら 日本 東京 今日 明日 時間 問題 方法 結果 政府 国 都市 社会 経済 文化 歴史 科学 技術
情報 研究 教育 健康 環境 家族 友達 子ども 両親 先生 学生 医者 病院 食べ物 水 家 道 車 お金 仕事
心 世界 発展 変化 重要な 新しい いろいろな たくさんの 小さい 大きい 良い 難しい 簡単な 速い 遅い
あります ありません します です 見る 知る 行く 来る あげる 使う 必要 できる なぜなら だから しかし
そして もし すでに とても 特に いつも 現在 未来 過去 地域 企業 市場 価格 製品 サービス 顧客 会社
関係 過程 状況 条件 基準 目標 影響 意味 内容 テーマ 目的 分析 説明 について ための による""".split(),
}

# Languages with their own script and no list above write pseudo-words in their script (a Latin
# pseudo-word in a Hindi field fails the script rule, as it should). Where a script is shared by
# close relatives, the detector, which reads letter n-grams, tells them apart by their own letters
# and most frequent words: those languages get both, below. The rest draw from their script's
# Unicode letters.
ALPHABETS: dict[str, str] = {
    "ar": "ابتثجحخدذرزسشصضطظعغفقكلمنهويةىأإء",
    "fa": "ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی",
    "ur": "ابپتٹثجچحخدڈذرڑزژسشصضطظعغفقکگلمنںوہھیے",
    "ps": "ابپتټثجچحخځڅدډذرړزژږسشښصضطظعغفقکګلمنڼوهيېۍئ",
    "ug": "ئابپتجچخدرزژسشغفقكگڭلمنھوۇۆۈۋېىي",
    "sd": "ابٻپتٿٽٺثجڄڃچڇحخدڌڏڊڍذرڙزسشصضطظعغفڦقڪکگڳڱلمنڻوهيھ",
    "he": "אבגדהוזחטיכלמנסעפצקרשתךםןףץ",
    "yi": "אבגדהוזחטיכלמנסעפצקרשתךםןףץװױײ",
    "uk": "абвгґдеєжзиіїйклмнопрстуфхцчшщьюя",
    "be": "абвгдеёжзійклмнопрстуўфхцчшыьэюя",
    "bg": "абвгдежзийклмнопрстуфхцчшщъьюя",
    "mk": "абвгдѓежзѕијклљмнњопрстќуфхцчџш",
    "kk": "аәбвгғдежзийкқлмнңоөпрстуұүфхһцчшыіэюя",
    "ky": "абвгдежзийклмнңоөпрстуүфхцчшыэюя",
    "mn": "абвгдеёжзийклмноөпрстуүфхцчшыэюя",
    "el": "αβγδεζηθικλμνξοπρστυφχψωάέήίόύώς",
    "bn": "অআইঈউঊএঐওঔকখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযরলশষসহড়য়ৎ",
    "as": "অআইঈউঊএঐওঔকখগঘঙচছজঝঞটঠডঢণতথদধনপফবভমযৰলৱশষসহড়য়",
}
COMMON: dict[str, str] = {
    "ar": "في من على إلى أن هذا التي الذي كان عن مع هذه بين كل قد لا ما هو هي ذلك عند",
    "fa": "در و به از که این را با است برای آن یک خود تا کرد بر هم شود می نیز شده",
    "ur": "کے میں کی ہے اور کو سے کا نے یہ ہیں پر بھی تھا ایک کہ ہو گیا کر لیے",
    "ps": "د او په چې له دا یې کې ده شو هم دي لپاره سره وي",
    "ug": "بىر بۇ ۋە ئۇ بىلەن ئۈچۈن ئىدى دەپ ھەم كېيىن",
    "sd": "۾ جي ۽ جو کي تي آهي هن سان به جا ويو",
    "he": "של את על זה לא הוא היא עם גם כי אבל או מה",
    "yi": "דער די דאָס און איז אין פֿון ניט מיט אַ צו",
    "uk": "і в на що не з до це як та від він але його вона для ми бути також",
    "be": "і ў на што не з да гэта як але ён яго яна для мы быць таксама",
    "bg": "и в на е да се не за от че с това по като са който но тя",
    "mk": "и во на е да се не за од дека со тоа по како кој но таа",
    "kk": "және бұл мен үшін бір деп оның осы да де болып еді жылы",
    "ky": "жана бул менен үчүн бир деп анын ошол да болуп эле жылы болгон ал бар эмес керек кыргыз өлкө "
    "мамлекет",
    "mn": "ба нь энэ юм байна болон гэж тэр нэг бол байсан",
    "el": "και το η του της να σε με για από τα οι που είναι δεν",
    "hi": "है के में की और को से का एक यह था पर भी हैं लिए कि जो नहीं",
    "mr": "आहे आणि या की हे तो ते ती मध्ये त्यांच्या एक व नाही केले आहेत होते करून म्हणून त्या होता झाले "
    "आपल्या असे करण्यात येथे त्यांनी पण",
    "ne": "छ र को मा पनि हो गर्न भएको गरेको थियो यो त्यो छन् लागि हुन्छ गरे भने उनले हुने गर्ने रहेको नेपाल सरकार थिए",
    "sa": "अस्ति च तत् सः एव न तु अपि इति यत् भवति स्म तस्य सर्वे",
    "bn": "এবং এই করে না হয় একটি থেকে জন্য যে তার করা তিনি আমি ছিল",
    "as": "আৰু এই কৰা নহয় এটা পৰা বাবে যে তেওঁ আছিল মই হয়",
}


def _script_letters(script: str) -> str:
    """The letters of the script's main Unicode block."""
    first, last = SCRIPT_RANGES[script][0], SCRIPT_RANGES[script][2]
    return "".join(
        c for c in map(chr, range(ord(first), ord(last) + 1)) if unicodedata.category(c) in ("Lo", "Ll", "Lu")
    )


def _script_words(code: str) -> list[str]:
    rng = random.Random(f"vocab:{code}")
    letters = ALPHABETS.get(code) or _script_letters(LANGUAGE_SCRIPTS[code][0])
    # Unspaced scripts count a word per CHARS_PER_WORD characters: pseudo-words at least that long
    # keep documents at the length asked.
    low = max(2, round(CHARS_PER_WORD.get(code, 2)))
    pseudo = ["".join(rng.choices(letters, k=rng.randint(low, low + 4))) for _ in range(200)]
    return COMMON.get(code, "").split() * 8 + pseudo


for _code in LANGUAGE_SCRIPTS:
    if _code not in WORDS:
        WORDS[_code] = _script_words(_code)
